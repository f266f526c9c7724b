#include "kmod.h"
MODULE(MODULE_CLASS_MISC, weakref, NULL);
extern int maybe_there(void) __attribute__((weak));
int weakref_fn(void) { return maybe_there ? maybe_there() : 0; }
PLAIN_MODCMD(weakref)
