"""Timers on the virtual clock (Xen's xen/common/timer.c): a deadline in
system time (ns) and a function to call when it passes.  The scheduler keeps
the armed ones and fires them between slices; when every vCPU is idle it
jumps the clock to the earliest deadline."""


class Timer:
    __slots__ = ("scheduler", "fn", "owner", "deadline", "armed")

    def __init__(self, scheduler, fn, owner):
        self.scheduler = scheduler
        self.fn = fn                  # called with no argument when it expires
        self.owner = owner            # the Domain it belongs to
        self.deadline = 0
        self.armed = False

    def set(self, deadline):
        """set_timer(): (re)arm; a deadline in the past fires at once."""
        self.deadline = deadline
        self.armed = True
        self.scheduler.add_timer(self)

    def stop(self):
        if self.armed:
            self.armed = False
            self.scheduler.remove_timer(self)

    def fire(self):
        self.armed = False
        self.fn()

    def owner_finished(self):
        return self.owner.finished
