extern int printf(const char *, ...);
int nolinkset_fn(void) { return printf("x"); }
