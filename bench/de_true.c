/* de_true.c: the smallest program that exits 0, for exec storms
 * (bench_ebpf -s -b build/bench/de_true). No C library and no dynamic
 * loader: an exec of it is the kernel's exec, fork and exit paths and
 * nothing else, which makes it the fastest exec a machine can run (on the
 * 2-vCPU VM of docs/BENCHMARKS.md ~6x the rate of /bin/true). Built
 * static with -nostdlib, only where the entry point below is written
 * (x86_64, aarch64) and not in sanitizer or fuzzing builds. */
void _start(void);

__attribute__((noreturn, used)) void _start(void)
{
#if defined(__x86_64__)
	__asm__ volatile("mov $231, %eax\n\t" /* exit_group */
			 "xor %edi, %edi\n\t"
			 "syscall");
#elif defined(__aarch64__)
	__asm__ volatile("mov x8, #94\n\t" /* exit_group */
			 "mov x0, #0\n\t"
			 "svc #0");
#else
#error "de_true: no entry point for this architecture"
#endif
	__builtin_unreachable();
}
