"""What files weigh: gzip -9 of a body (computed: nothing here is served compressed unless the
collector serves it), of the web/dist/ files that URLs name, and of any URL a page fetched."""

import gzip

import httpx

from visitrail.collector import assets


def gzip9(data):
    return len(gzip.compress(data, 9))


def dist_files(urls):
    """The web/dist/ files that these URLs (under the collector's /analytics/) name."""
    files = (assets.dist_file(url) for url in urls)
    return [f for f in files if f is not None and f.is_file()]


def dist_gzip9(urls):
    """gzip -9 of the web/dist/ files these URLs name, added up (bodies only)."""
    return sum(gzip9(f.read_bytes()) for f in dist_files(urls))


class Sizes:
    """Raw and gzip -9 size of each URL's body, fetched once from the local servers. The header
    keeps these fetches out of the endpoints' records."""

    def __init__(self):
        self.cache = {}
        self.http = httpx.Client(timeout=60, headers={"X-Bench-Sizing": "1"})

    def get(self, url):
        if url not in self.cache:
            body = self.http.get(url).content
            self.cache[url] = (len(body), gzip9(body))
        return self.cache[url]

    def close(self):
        self.http.close()
