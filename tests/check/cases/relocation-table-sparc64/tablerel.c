#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

/*
 * sparc64's kobj_reloc() is table-driven: every type of its table but JMP_SLOT, COPY
 * and the unaligned UA* ones is applied (spec 2.4) -- the GOT, GLOB_DAT, PLT and
 * REGISTER types included, though no -fno-pic compiler output has them.
 */
__asm__(
    ".pushsection .data\n"
    ".balign 8\n"
    "1: .quad 0\n .reloc 1b, R_SPARC_GOT10, hz\n"
    "2: .quad 0\n .reloc 2b, R_SPARC_GOT13, hz\n"
    "3: .quad 0\n .reloc 3b, R_SPARC_GOT22, hz\n"
    "4: .quad 0\n .reloc 4b, R_SPARC_GLOB_DAT, hz\n"
    "5: .quad 0\n .reloc 5b, R_SPARC_PLT32, hz\n"
    "6: .quad 0\n .reloc 6b, R_SPARC_HIPLT22, hz\n"
    "7: .quad 0\n .reloc 7b, R_SPARC_LOPLT10, hz\n"
    "8: .quad 0\n .reloc 8b, R_SPARC_PCPLT32, hz\n"
    "9: .quad 0\n .reloc 9b, R_SPARC_PCPLT22, hz\n"
    "10: .quad 0\n .reloc 10b, R_SPARC_PCPLT10, hz\n"
    "11: .quad 0\n .reloc 11b, R_SPARC_PLT64, hz\n"
    "12: .quad 0\n .reloc 12b, R_SPARC_REGISTER, hz\n"
    ".popsection\n");

MODULE(MODULE_CLASS_MISC, tablerel, NULL);

static int
tablerel_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%s: hz %d\n", "tablerel", hz);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
