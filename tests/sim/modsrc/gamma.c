#include "kmod.h"
MODULE(MODULE_CLASS_MISC, gamma, "beta");
extern int beta_fn(int);
int gamma_fn(int x) { return beta_fn(x) + 1; }
PLAIN_MODCMD(gamma)
