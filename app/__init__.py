"""The app layer: wiring (``app.factory.create_app``), the REST API, the CLI, the scheduler, and the small
accessor (``app.services``) through which pages and callbacks reach the store, the cache and the jobs.

Nothing is imported here, so a callback importing ``app.services`` never drags in the factory (which imports
the callbacks: the cycle this package once had)."""
