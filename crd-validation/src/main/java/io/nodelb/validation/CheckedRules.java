package io.nodelb.validation;

import dev.cel.common.CelProtoAbstractSyntaxTree;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The bundled CRDs' CEL expressions, parsed and type-checked by the build (cel-java's
 * {@code CheckedExpr}, keyed by the expression's text) so that a starting agent only builds programs
 * from them. The CRD YAML stays the one source: an expression missing here is compiled from its text.
 *
 * <p>File format: a count, then per expression its text (modified UTF-8) and its CheckedExpr bytes.
 */
public final class CheckedRules {
    static final String RESOURCE = "crds/checked-rules.bin";

    private CheckedRules() {}

    /** The build's checked expressions; empty when the resource is missing (a build that skipped the step). */
    static Map<String, byte[]> bundled() {
        try (InputStream in = CheckedRules.class.getResourceAsStream(RESOURCE)) {
            return in == null ? Map.of() : read(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    static Map<String, byte[]> read(InputStream in) throws IOException {
        DataInputStream data = new DataInputStream(in);
        int count = data.readInt();
        Map<String, byte[]> checked = new HashMap<>();
        for (int i = 0; i < count; i++) {
            String expression = data.readUTF();
            checked.put(expression, data.readNBytes(data.readInt()));
        }
        return checked;
    }

    /** Compiles every expression of the bundled CRDs and returns the resource's bytes (sorted: reproducible). */
    static byte[] write() throws IOException {
        CelRule.Compiler compiler = new CelRule.Compiler();
        List<String> crds = new ArrayList<>();
        for (String name : CrdValidator.BUNDLED) {
            crds.add(CrdValidator.resource("crds/" + name));
        }
        CrdValidator.fromCrds(crds, compiler);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(compiler.compiledFromText.size());
        for (var e : compiler.compiledFromText.entrySet()) {
            byte[] checked = CelProtoAbstractSyntaxTree.fromCelAst(e.getValue()).toCheckedExpr().toByteArray();
            out.writeUTF(e.getKey());
            out.writeInt(checked.length);
            out.write(checked);
        }
        out.flush();
        return bytes.toByteArray();
    }

    /** Run by the build (process-classes): writes the resource into the classes directory given. */
    public static void main(String[] args) throws IOException {
        Path target = Path.of(args[0]).resolve("io/nodelb/validation").resolve(RESOURCE);
        Files.createDirectories(target.getParent());
        Files.write(target, write());
    }
}
