"""I/O edge of gearsim: real sockets and real peer processes (never imported by the pure core)."""
