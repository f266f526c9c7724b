#include "kmod.h"
MODULE(MODULE_CLASS_MISC, a_module_name_of_32_characters_x, NULL);
PLAIN_MODCMD(a_module_name_of_32_characters_x)
