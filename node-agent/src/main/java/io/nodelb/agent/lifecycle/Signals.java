package io.nodelb.agent.lifecycle;

import sun.misc.Signal;

/** SIGUSR1 drains the node, SIGUSR2 undrains it; each change is logged on stdout. */
public final class Signals {

    private Signals() {}

    public static void handleDrain(Drain drain) {
        Signal.handle(new Signal("USR1"), s -> {
            if (drain.drain()) {
                System.out.println("nodelb-agent: draining (SIGUSR1): readiness answers 503, every flow is still served");
                System.out.flush();
            }
        });
        Signal.handle(new Signal("USR2"), s -> {
            if (drain.undrain()) {
                System.out.println("nodelb-agent: undrained (SIGUSR2): readiness answers 200 again");
                System.out.flush();
            }
        });
    }
}
