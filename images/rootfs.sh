#!/usr/bin/env bash
# The root file system of one nodelb image, from this machine's Debian packages and JDK: nothing is
# downloaded and no container engine runs. Jib (pom.xml) turns it into an OCI image tarball.
#
#   images/rootfs.sh agent|operator OUT TOP JAVA_HOME
#
# OUT/opt/java      a Java 25 runtime made by jlink with only the modules nodelb uses
# OUT/usr/lib/...   the shared libraries that runtime (and the agent: libbpf, libelf) needs, each
#                   Debian package whole except docs, man pages and locales; ld.so.cache to find them
# OUT/opt/nodelb    the agent's jars, or the operator's Quarkus application
set -euo pipefail
kind=$1 out=$2 top=$3 java_home=$4

packages=(libc6 zlib1g)
modules=java.base,java.logging,java.management,java.naming,java.net.http,java.security.jgss,java.sql,java.xml,jdk.crypto.ec,jdk.management,jdk.unsupported,jdk.zipfs
case "$kind" in
  agent)
    packages+=(libbpf1 libelf1)
    modules+=,jdk.httpserver
    app=("$top/node-agent/target/nodelb-node-agent.jar" "$top/node-agent/target/lib")
    ;;
  operator)
    app=("$top/operator/target/quarkus-app/.")
    ;;
  *) echo "rootfs.sh: agent or operator, not '$kind'" >&2; exit 2 ;;
esac
for a in "${app[@]}"; do
  [ -e "$a" ] || { echo "rootfs.sh: $a is missing: package the $kind module first" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/opt/nodelb" "$out/etc" "$out/tmp"
chmod 1777 "$out/tmp"

"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
  --output "$out/opt/java"

for package in "${packages[@]}"; do
  dpkg-query -W "$package" >/dev/null 2>&1 || { echo "rootfs.sh: Debian package $package is not installed (deploy/setup.sh installs it)" >&2; exit 1; }
  # No links: Jib does not keep them. Files under Debian's merged /usr go to /usr (/lib/x -> /usr/lib/x);
  # a link is copied as the file it points to; /lib64 keeps the ELF interpreter, where binaries look for it.
  dpkg -L "$package" | grep -vE '^/usr/share/(doc|man|locale|lintian)/|/gconv/' | while read -r file; do
    if [ -f "$file" ]; then
      case "$file" in
        /lib64/*) dest=$file ;;
        /lib/* | /bin/* | /sbin/*) dest=/usr$file ;;
        *) dest=$file ;;
      esac
      mkdir -p "$out$(dirname "$dest")"
      cp -L "$file" "$out$dest"
    fi
  done
done
printf '/usr/lib/x86_64-linux-gnu\n' > "$out/etc/ld.so.conf"
ldconfig -X -r "$out"

cp -a "${app[@]}" "$out/opt/nodelb/"
# Who the processes are: the operator runs as 65532 (the chart's runAsUser), the agent as root.
printf 'root:x:0:0:root:/root:/nonexistent\nnonroot:x:65532:65532:nonroot:/nonexistent:/nonexistent\n' > "$out/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$out/etc/group"
