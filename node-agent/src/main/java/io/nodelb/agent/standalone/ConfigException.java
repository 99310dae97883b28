package io.nodelb.agent.standalone;

import java.util.List;

/** A configuration file that cannot be used; every problem names the document, the field and the reason. */
public final class ConfigException extends Exception {
    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super(String.join("\n", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
