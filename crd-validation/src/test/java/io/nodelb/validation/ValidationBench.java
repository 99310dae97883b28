package io.nodelb.validation;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Benchmark command, not a test: time to load the CRDs (parse, compile every CEL rule) and time to
 * validate one document, over every example and invalid example.
 * Run: see docs/benchmarks.md, "API validation".
 */
public final class ValidationBench {
    private ValidationBench() {}

    public static void main(String[] args) {
        long t0 = System.nanoTime();
        CrdValidator validator = CrdValidator.fromCrds(CrdRules.crdTexts());
        long loadNanos = System.nanoTime() - t0;
        List<Map<String, Object>> documents = new ArrayList<>();
        Examples.files(Examples.VALID).forEach(f -> documents.addAll(Examples.documents(f)));
        Examples.files(Examples.INVALID).forEach(f -> documents.addAll(Examples.documents(f)));
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        long errors = 0;
        for (int warm = 0; warm < 50; warm++) {
            for (Map<String, Object> d : documents) {
                errors += validator.validate(d).size();
            }
        }
        long start = System.nanoTime();
        for (int r = 0; r < rounds; r++) {
            for (Map<String, Object> d : documents) {
                errors += validator.validate(d).size();
            }
        }
        double perDocument = (System.nanoTime() - start) / 1000.0 / rounds / documents.size();
        System.out.printf("load %.0f ms; %d documents x %d rounds: %.1f us per document (%d errors seen)%n",
                loadNanos / 1e6, documents.size(), rounds, perDocument, errors);
    }
}
