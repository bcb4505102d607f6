"""The shared kernel: settings, the domain's typed values, the clock, logging, the retry policy, the
rate limiters and a byte-bounded LRU. Imported by every layer; imports none of them."""
