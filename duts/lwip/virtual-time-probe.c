/*
 * virtual-time-probe: can lwIP (Debian's liblwip, NO_SYS=0) run on a clock
 * the harness moves? liblwip calls sys_now() through the PLT, so the
 * definition below replaces the library's. Every step runs on lwIP's tcpip
 * thread (a callback that checks the timeouts, then a semaphore), so
 * nothing fires behind the caller's back. docs/adding-a-stack.md reports
 * what it prints. Built by `make lwip-vt-probe`.
 */
#include <lwip/init.h>
#include <lwip/tcpip.h>
#include <lwip/timeouts.h>
#include <lwip/sys.h>
#include <stdio.h>
#include <semaphore.h>
#include <time.h>

static volatile u32_t virtual_ms = 0;
u32_t sys_now(void) { return virtual_ms; }   /* interposes liblwip's */

static sem_t done, fired;
static double real(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void on_timeout(void *arg) { (void)arg; printf("  timeout fired at virtual %u ms\n", (unsigned)virtual_ms); sem_post(&fired); }
static void arm(void *arg) { (void)arg; sys_timeout(1000, on_timeout, NULL); sem_post(&done); }
static void check(void *arg) { (void)arg; sys_check_timeouts(); sem_post(&done); }
static void up(void *arg) { (void)arg; sem_post(&done); }

int main(void) {
    sem_init(&done, 0, 0); sem_init(&fired, 0, 0);
    tcpip_init(up, NULL); sem_wait(&done);
    tcpip_callback(arm, NULL); sem_wait(&done);
    double t0 = real();
    virtual_ms = 999; tcpip_callback(check, NULL); sem_wait(&done);
    int early = sem_trywait(&fired) == 0;
    virtual_ms = 1000; tcpip_callback(check, NULL); sem_wait(&done);
    int on_time = sem_trywait(&fired) == 0;
    printf("fired at 999: %s; at 1000: %s; real time taken %.3f ms\n", early ? "yes" : "no", on_time ? "yes" : "no", (real() - t0) * 1e3);
    /* And lwIP's own TCP timer (tcp_tmr, every 250 ms) runs off the same clock:
       move 60 virtual seconds in 250 ms steps. */
    t0 = real();
    for (int i = 0; i < 240; i++) { virtual_ms += 250; tcpip_callback(check, NULL); sem_wait(&done); }
    printf("60 virtual seconds of lwIP timers in %.3f ms real\n", (real() - t0) * 1e3);
    return 0;
}
