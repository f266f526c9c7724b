#include "kmod.h"
MODULE(MODULE_CLASS_MISC, undef, NULL);
extern int no_such_symbol(void);
extern int another_missing;
int undef_fn(void) { return no_such_symbol() + another_missing; }
PLAIN_MODCMD(undef)
