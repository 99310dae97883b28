package io.nodelb.agent.stream;

import static org.assertj.core.api.Assertions.assertThat;

import io.nodelb.agent.stream.ClientHello.Status;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.Test;

class ClientHelloTest {

    /** The first flight of the JDK's own TLS client: a real ClientHello. */
    static byte[] jdkHello(String serverName) throws Exception {
        SSLEngine engine = SSLContext.getDefault().createSSLEngine("ignored", 443);
        engine.setUseClientMode(true);
        if (serverName != null) {
            SSLParameters p = engine.getSSLParameters();
            p.setServerNames(List.of(new SNIHostName(serverName)));
            engine.setSSLParameters(p);
        }
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.beginHandshake();
        engine.wrap(ByteBuffer.allocate(0), out);
        return Arrays.copyOf(out.array(), out.position());
    }

    private static ClientHello.Result parse(byte[] b) {
        return ClientHello.parse(b, b.length);
    }

    @Test
    void readsTheNameOfARealClientHelloLowerCased() throws Exception {
        assertThat(parse(jdkHello("Api.Example.COM"))).isEqualTo(new ClientHello.Result(Status.HELLO, "api.example.com"));
    }

    @Test
    void aClientHelloWithoutANameIsAHelloWithoutOne() throws Exception {
        byte[] hello = jdkHello(null);
        // The JDK sends the peer host as SNI only for a name; "ignored" is not a FQDN but check anyway.
        assertThat(parse(hello).status()).isEqualTo(Status.HELLO);
        assertThat(parse(hello(extension(10, new byte[] {0, 2, 0, 29})))).isEqualTo(new ClientHello.Result(Status.HELLO, null));
    }

    @Test
    void everyPrefixNeedsMoreAndTheWholeIsAHello() throws Exception {
        byte[] hello = jdkHello("www.example.org");
        for (int n = 0; n < hello.length; n++) {
            assertThat(ClientHello.parse(hello, n).status()).as("first %d bytes", n).isEqualTo(Status.NEED_MORE);
        }
        assertThat(parse(hello).serverName()).isEqualTo("www.example.org");
    }

    @Test
    void aHandshakeSplitOverSeveralRecordsIsGathered() throws Exception {
        byte[] hello = jdkHello("split.example.com");
        byte[] message = Arrays.copyOfRange(hello, 5, hello.length);
        ByteArrayOutputStream records = new ByteArrayOutputStream();
        for (int at = 0; at < message.length; at += 7) {
            int n = Math.min(7, message.length - at);
            records.writeBytes(new byte[] {22, 3, 1, 0, (byte) n});
            records.write(message, at, n);
        }
        byte[] split = records.toByteArray();
        for (int n = 0; n < split.length; n++) {
            assertThat(ClientHello.parse(split, n).status()).as("first %d bytes", n).isEqualTo(Status.NEED_MORE);
        }
        assertThat(parse(split).serverName()).isEqualTo("split.example.com");
    }

    @Test
    void theNameIsFoundWhereverItsExtensionIs() {
        byte[] alpn = extension(16, new byte[] {0, 3, 2, 'h', '2'});
        byte[] groups = extension(10, new byte[] {0, 2, 0, 29});
        byte[] sni = sni("b.example.com");
        for (byte[][] order : List.of(new byte[][] {sni, alpn, groups}, new byte[][] {alpn, sni, groups},
                new byte[][] {alpn, groups, sni})) {
            assertThat(parse(hello(order)).serverName()).isEqualTo("b.example.com");
        }
    }

    @Test
    void aTrailingDotIsDropped() {
        assertThat(parse(hello(sni("dot.example.com."))).serverName()).isEqualTo("dot.example.com");
    }

    @Test
    void theFirstByteSaysWhetherItIsTls() {
        byte[] get = "GET / HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
        assertThat(ClientHello.parse(get, 1).status()).isEqualTo(Status.NOT_TLS);
        assertThat(ClientHello.parse(new byte[] {22}, 1).status()).isEqualTo(Status.NEED_MORE);
        assertThat(ClientHello.parse(new byte[] {22, 2, 0, 0, 1}, 5).status()).isEqualTo(Status.NOT_TLS);
        assertThat(ClientHello.parse(new byte[0], 0).status()).isEqualTo(Status.NEED_MORE);
    }

    @Test
    void badLengthsAreMalformed() {
        byte[] good = hello(sni("x.example.com"));
        // The extensions' total longer than what follows it.
        byte[] longer = good.clone();
        int extensionsAt = 5 + 4 + 2 + 32 + 1 + 6 + 2; // record, handshake header, version, random, session, suites, compression
        longer[extensionsAt + 1]++;
        assertThat(parse(longer).status()).isEqualTo(Status.MALFORMED);
        // An extension that claims more than the block holds.
        byte[] ext = hello(new byte[] {0, 16, 0, 40, 1, 2});
        assertThat(parse(ext).status()).isEqualTo(Status.MALFORMED);
        // A server-name list whose length disagrees with its extension's.
        byte[] list = hello(extension(0, new byte[] {0, 9, 0, 0, 3, 'a', '.', 'b'}));
        assertThat(parse(list).status()).isEqualTo(Status.MALFORMED);
        // A host name of length 0, and one with a control byte.
        assertThat(parse(hello(extension(0, new byte[] {0, 3, 0, 0, 0}))).status()).isEqualTo(Status.MALFORMED);
        assertThat(parse(hello(sni("a\nb.com"))).status()).isEqualTo(Status.MALFORMED);
        // Two server_name extensions.
        assertThat(parse(hello(sni("a.com"), sni("b.com"))).status()).isEqualTo(Status.MALFORMED);
        // A handshake that is not a ClientHello (a ServerHello, type 2).
        byte[] server = good.clone();
        server[5] = 2;
        assertThat(parse(server).status()).isEqualTo(Status.MALFORMED);
        // A record of length 0.
        assertThat(ClientHello.parse(new byte[] {22, 3, 1, 0, 0}, 5).status()).isEqualTo(Status.MALFORMED);
        // A session id running past the message.
        byte[] session = hello();
        session[5 + 4 + 2 + 32] = (byte) 200;
        assertThat(parse(session).status()).isEqualTo(Status.MALFORMED);
    }

    @Test
    void aHelloLargerThanTheLimitIsTooLarge() {
        byte[] padding = extension(21, new byte[ClientHello.MAX_BYTES]);
        assertThat(parse(hello(padding)).status()).isEqualTo(Status.TOO_LARGE);
        // Announced too large: known from the handshake header, before the rest arrives.
        byte[] header = {22, 3, 1, 0, 4, 1, 0, 0x50, 0};
        assertThat(ClientHello.parse(header, header.length).status()).isEqualTo(Status.TOO_LARGE);
        // Endless small records that never finish the message stop at the limit.
        ByteArrayOutputStream records = new ByteArrayOutputStream();
        records.writeBytes(new byte[] {22, 3, 1, 0, 4, 1, 0, 0x3f, (byte) 0xff});
        while (records.size() < ClientHello.MAX_BYTES + 10) {
            records.writeBytes(new byte[] {22, 3, 1, 0, 1, 0});
        }
        byte[] many = records.toByteArray();
        assertThat(parse(many).status()).isEqualTo(Status.TOO_LARGE);
    }

    static byte[] sni(String name) {
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream list = new ByteArrayOutputStream();
        u16(list, n.length + 3);
        list.write(0);
        u16(list, n.length);
        list.writeBytes(n);
        return extension(0, list.toByteArray());
    }

    static byte[] extension(int type, byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        u16(out, type);
        u16(out, body.length);
        out.writeBytes(body);
        return out.toByteArray();
    }

    /** A ClientHello record: TLS 1.2 legacy version, a zero random, no session id, two suites, null compression. */
    static byte[] hello(byte[]... extensions) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {3, 3});
        body.writeBytes(new byte[32]);
        body.write(0);
        body.writeBytes(new byte[] {0, 4, 0x13, 0x01, 0x13, 0x02});
        body.writeBytes(new byte[] {1, 0});
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (byte[] e : extensions) {
            all.writeBytes(e);
        }
        u16(body, all.size());
        body.writeBytes(all.toByteArray());
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        message.write(1);
        message.write(body.size() >>> 16);
        u16(message, body.size() & 0xffff);
        message.writeBytes(body.toByteArray());
        ByteArrayOutputStream record = new ByteArrayOutputStream();
        byte[] m = message.toByteArray();
        // Records hold at most 16 KiB: split a larger message.
        for (int at = 0; at < m.length; at += 16384) {
            int n = Math.min(16384, m.length - at);
            record.writeBytes(new byte[] {22, 3, 1});
            u16(record, n);
            record.write(m, at, n);
        }
        return record.toByteArray();
    }

    private static void u16(ByteArrayOutputStream out, int v) {
        out.write(v >>> 8 & 0xff);
        out.write(v & 0xff);
    }
}
