#include "kmod.h"
MODULE(MODULE_CLASS_MISC, usealpha, NULL);
/* uses alpha without requiring it: resolves against any loaded module */
extern int alpha_fn(int);
int usealpha_fn(void) { return alpha_fn(1); }
PLAIN_MODCMD(usealpha)
