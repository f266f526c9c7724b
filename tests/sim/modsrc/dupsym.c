#include "kmod.h"
MODULE(MODULE_CLASS_MISC, dupsym, NULL);
int alpha_fn(int x) { return x; }
PLAIN_MODCMD(dupsym)
