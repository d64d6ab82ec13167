"""A read-through cache for the standards' hot reads ("Cache Frequently Accessed Data").

* `appdata.cache.core`: `ReadThroughCache` (single flight, versioned invalidation,
  jittered TTLs, negative entries, failure fallback) and its `CacheStats`.
* `appdata.cache.keys`: key names and the `EntryKind` of each cached value.
* `appdata.cache.codec`: values as explicit JSON (no pickle).
* `appdata.cache.client`: the connection from ``CACHE_URL``.
* `appdata.cache.repositories`: the cached profile, users and preferences.
"""
