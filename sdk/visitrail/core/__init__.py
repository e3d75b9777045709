"""The SDK's core: everything that is the same on every runtime (CPython, MicroPython, Pyodide,
Brython). It never imports a browser module, nor one MicroPython lacks; the world outside (clock,
random bytes, storage, HTTP, timers, the page) comes in through `platform.Platform`.

The path of a call, module by module:

    client.Client.call        the public entry: getters, debug, consent; never raises
      recorder.Recorder       one call over an identity and a session -> an event (also the collector's)
        arguments.parse       what the call's (JS-style, overloaded) arguments mean
        identity.Identity     visitor, user, group, over stores.LayeredStore
        sessions.Sessions     the session record every tab shares
        events.build          the Segment-shaped message
      delivery.Delivery       batches, sends, retries, beacons (outbox.Outbox persists each tab's queue)

Importing this package imports nothing.
"""
