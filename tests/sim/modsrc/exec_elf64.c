#include "kmod.h"
MODULE(MODULE_CLASS_EXEC, exec_elf64, NULL);
PLAIN_MODCMD(exec_elf64)
