#include "kmod.h"
MODULE(MODULE_CLASS_DRIVER, bitbox, NULL);
PLAIN_MODCMD(bitbox)
