#include "kmod.h"
MODULE(MODULE_CLASS_MISC, weakprov, NULL);
__attribute__((weak)) int weak_provided(void) { return 1; }
int strong_provided(void) { return 2; }
PLAIN_MODCMD(weakprov)
