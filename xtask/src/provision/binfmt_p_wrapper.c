/* crosslab's stand-in for NixOS's qemu-<arch>-binfmt-P wrapper.
 *
 * NixOS 25.05 registers, for `boot.binfmt.emulatedSystems` without
 * preferStaticEmulators, `pkgs.wrapQemuBinfmtP`'s wrapper with flag P
 * (nixos/modules/system/boot/binfmt.nix). nixpkgs builds it static
 * (pkgs/applications/virtualization/qemu/binfmt-p-wrapper.nix: "The wrapper
 * has to be static so LD_* environment variables cannot affect the execution
 * of the wrapper itself", `$CC -static -std=c99 -O2 -DTARGET_QEMU=...`), and
 * binfmt-p-wrapper.c "converts the extra argv[0] argument from binfmt-misc
 * with the P flag enabled to QEMU parameters" and "prevents LD_* environment
 * variables from being applied to QEMU itself". This program behaves the
 * same way; it is written for crosslab, not copied:
 *
 *   kernel, flag P:  wrapper  <full path of the binary>  <original argv[0]>  <args...>
 *   exec'd:          QEMU  -0 <original argv[0]>  [-E LD_x=...]...  --  <full path>  <args...>
 *
 * with every LD_* variable moved from the environment to a `-E`. QEMU is the
 * dynamically linked qemu-user by absolute path (-DCROSSLAB_QEMU="..."), and
 * the result of execve is the program's exit status: when QEMU cannot be
 * executed (a chroot without it, a sandbox without its loader) nothing is
 * printed and the status is 255, as with NixOS's wrapper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CROSSLAB_QEMU
#error "build with -DCROSSLAB_QEMU='\"/usr/bin/qemu-<arch>\"'"
#endif

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "%s: a binfmt_misc interpreter registered with flag P; runs %s\n",
                argc > 0 ? argv[0] : "binfmt-p-wrapper", CROSSLAB_QEMU);
        return 1;
    }
    size_t vars = 0;
    while (environ[vars] != NULL)
        vars++;
    /* qemu, -0, argv0, two per LD_* variable, --, the binary, the arguments, NULL */
    char **args = calloc(3 + 2 * vars + 2 + (size_t)(argc - 3) + 1, sizeof *args);
    char **env = calloc(vars + 1, sizeof *env);
    if (args == NULL || env == NULL)
        abort();
    size_t a = 0, e = 0;
    args[a++] = CROSSLAB_QEMU;
    args[a++] = "-0";
    args[a++] = argv[2];
    for (size_t i = 0; i < vars; i++) {
        if (strncmp(environ[i], "LD_", 3) == 0) {
            args[a++] = "-E";
            args[a++] = environ[i];
        } else {
            env[e++] = environ[i];
        }
    }
    args[a++] = "--";
    args[a++] = argv[1];
    for (int i = 3; i < argc; i++)
        args[a++] = argv[i];
    return execve(CROSSLAB_QEMU, args, env);
}
