#include "kmod.h"
MODULE(MODULE_CLASS_MISC, needalias, "alias");
PLAIN_MODCMD(needalias)
