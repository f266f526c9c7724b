#include "kmod.h"
MODULE(MODULE_CLASS_MISC, weakuser, "weakprov");
extern int weak_provided(void);
extern int strong_provided(void);
int weakuser_fn(void) { return weak_provided() + strong_provided(); }
PLAIN_MODCMD(weakuser)
