#include "kmod.h"
MODULE(MODULE_CLASS_MISC, beta, "alpha");
extern int alpha_fn(int);
int beta_fn(int x) { return alpha_fn(x) * 2; }
PLAIN_MODCMD(beta)
