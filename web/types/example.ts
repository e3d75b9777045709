// A page's script against the declarations, checked by `tsc --noEmit` (tests/build/test_types.py):
// every call of README.md's API type-checks, and each misuse below is an error tsc must report.
import type { Analytics, TagOptions } from "./index";

analytics.identify("user-42", { plan: "pro", seats: 3, tags: ["a", "b"], nested: { ok: true } });
analytics.identify({ email: "a@example.com" });
analytics.identify("user-42", {}, { identityToken: "eyJ...", context: { ip: "0.0.0.0" } });
analytics.identify(null, { plan: "team" });
analytics.identify("user-42", {}, { setOnce: { signupDate: "2026-11-25", firstPlan: "trial" } });
analytics.track("Clicked", { button: "buy" });
analytics.track("Signed up", {}, { integrations: { All: true } });
analytics.page();
analytics.page("Docs", { section: "api" });
analytics.page({ section: "api" });
analytics.group("acme", { name: "Acme" });
analytics.alias("user-42");
analytics.alias("user-42", "legacy-7");
analytics.reset();
analytics.reset({ keepAnonymousId: true });
analytics.rotate();
analytics.setAnonymousId("from-the-server");
analytics.debug(true);
analytics.consent.grant();
analytics.consent.deny();
const linked: string = analytics.decorate("https://shop.example/cart");
console.log(linked);

const visitor: string | null = analytics.user().anonymousId();
const user: string | null = window.analytics.user().id();
const plan = analytics.user().traits()?.plan;
const session: string | null = analytics.session().id();
analytics.ready(() => console.log(visitor, user, plan, session));
void analytics.flush().then((acknowledged: boolean) => console.log(acknowledged));

const sdk: Analytics = window.analytics;
const tag: TagOptions = { writeKey: "KEY", idStorage: "cookie", runtime: "mpy", consent: "pending",
  linkDomains: "shop.example,checkout.example" };
console.log(sdk, tag);

// @ts-expect-error: an event name is required
analytics.track();
// @ts-expect-error: a user ID is a string
analytics.identify(42);
// @ts-expect-error: a function is not JSON
analytics.track("Clicked", { onClick: () => 1 });
// @ts-expect-error: set-once traits are an object of traits
analytics.identify("user-42", {}, { setOnce: "2026-11-25" });
// @ts-expect-error: flush() takes no callback; it returns a Promise
analytics.flush(() => 1);
// @ts-expect-error: no such storage mode
const bad: TagOptions = { writeKey: "KEY", idStorage: "sessionStorage" };
console.log(bad);
