#include "kmod.h"
MODULE(MODULE_CLASS_MISC, picmod, NULL);
extern int some_kernel_var;
int picmod_fn(void) { return hz + some_kernel_var; }
PLAIN_MODCMD(picmod)
