package io.nodelb.model.compiler;

import java.util.List;
import java.util.stream.Collectors;

/** The inputs cannot be turned into a snapshot as they are; {@link #problems()} says why, one line each. */
public final class ModelProblemsException extends RuntimeException {
  private final List<Problem> problems;

  public ModelProblemsException(List<Problem> problems) {
    super(problems.size() + " problem(s) in the model:\n  "
        + problems.stream().map(Problem::toString).collect(Collectors.joining("\n  ")));
    this.problems = List.copyOf(problems);
  }

  public List<Problem> problems() {
    return problems;
  }
}
