#include "kmod.h"
MODULE(MODULE_CLASS_MISC, longdep, "alpha,a_dependency_name_31_characters");
PLAIN_MODCMD(longdep)
