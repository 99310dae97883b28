package io.nodelb.images;

import io.nodelb.agent.bpf.BpfObject;
import io.nodelb.agent.dataplane.BpfDataPlane;
import java.util.List;

/**
 * Run inside the agent image's root file system (ImagesIT copies this class there): opens the
 * agent's BPF objects from its jar with the image's libbpf. Opening parses the ELF and its BTF in
 * libbpf and needs no privilege; loading them into a kernel is the lab tests' job.
 */
public final class ImageCheck {
    private ImageCheck() {}

    public static void main(String[] args) {
        for (String resource : List.of(BpfDataPlane.XDP_OBJECT, BpfDataPlane.TC_OBJECT)) {
            try (BpfObject object = BpfObject.openResource(resource)) {
                System.out.println("libbpf opened " + object.name() + " from " + resource);
            }
        }
    }
}
