#include "kmod.h"
MODULE(MODULE_CLASS_MISC, alpha, NULL);
static int alpha_calls;
int alpha_fn(int x) { alpha_calls++; return x + hz; }
PLAIN_MODCMD(alpha)
