// Built into the gateway only under ThreadSanitizer (the tsan preset); empty otherwise.
//
// ThreadSanitizer does not see opendir() create a file descriptor, but it sees closedir() close
// one. When the loop thread has closed a socket (libuv's epoll_ctl, then close) and one of Paho's
// threads then opens a directory that gets the same descriptor number (OpenSSL looking up a CA
// directory for a TLS connect), the closedir() is reported as racing with the socket's last use:
// a false positive of the descriptor's reuse, the kernel orders close before open
// (google/sanitizers#1376 shows the same report from BIND 9 on libuv). Only that frame is silenced.

#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() { return "race:OPENSSL_DIR_end\n"; }
#endif
