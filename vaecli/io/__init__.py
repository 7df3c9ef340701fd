"""Files: atomic.py (every write of vaecli: temporary name, rename, full disks as one sentence), cache_root.py
(the one rule for the cache folder)."""
