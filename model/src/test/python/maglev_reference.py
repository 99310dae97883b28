"""An independent re-implementation of io.nodelb.model.MaglevTable, written from its javadoc.

It uses exact fractions for the turn times (Java keeps them at 2^-32 resolution) and produced the
golden tables that MaglevTableTest.matchesTheIndependentReferenceImplementation pins.
Run: python3 maglev_reference.py
"""
from fractions import Fraction
M64=(1<<64)-1
def rotl(x,b): return ((x<<b)|(x>>(64-b)))&M64
def sip(k0,k1,data):
    v0=0x736f6d6570736575^k0; v1=0x646f72616e646f6d^k1; v2=0x6c7967656e657261^k0; v3=0x7465646279746573^k1
    def rnd():
        nonlocal v0,v1,v2,v3
        v0=(v0+v1)&M64; v1=rotl(v1,13); v1^=v0; v0=rotl(v0,32)
        v2=(v2+v3)&M64; v3=rotl(v3,16); v3^=v2
        v0=(v0+v3)&M64; v3=rotl(v3,21); v3^=v0
        v2=(v2+v1)&M64; v1=rotl(v1,17); v1^=v2; v2=rotl(v2,32)
    n=len(data); b=(n&0xff)<<56
    words=[int.from_bytes(data[i:i+8],'little') for i in range(0,n-n%8,8)]
    tail=data[n-n%8:]; b|=int.from_bytes(tail,'little') if tail else 0
    for m in words+[b]:
        v3^=m; rnd(); rnd(); v0^=m
    v2^=0xff
    for _ in range(4): rnd()
    return v0^v1^v2^v3
assert sip(0x0706050403020100,0x0f0e0d0c0b0a0908,bytes(range(15)))==0xa129ca6149be45e5
OK0,OK1,SK0,SK1=0x9ae16a3b2f90404f,0xc3a5c85c97cb3127,0xb492b66fbe98f273,0x9ddfea08eb382d69
def build(targets,M):
    t=sorted([(k,w) for k,w in targets if w>0])
    W=sum(w for _,w in t)
    c=[M*w//W for _,w in t]; rem=[M*w%W for _,w in t]
    left=M-sum(c)
    for i in sorted(range(len(t)),key=lambda i:(-rem[i],i))[:left]: c[i]+=1
    assert all(x>0 for x in c)
    off=[sip(OK0,OK1,k.encode())%M for k,_ in t]; sk=[sip(SK0,SK1,k.encode())%(M-1)+1 for k,_ in t]
    turns=sorted([(Fraction(2*j+1,2*c[i]),i) for i in range(len(t)) for j in range(c[i])])
    table=[None]*M; nxt=off[:]
    for _,i in turns:
        s=nxt[i]
        while table[s] is not None: s=(s+sk[i])%M
        table[s]=t[i][0]; nxt[i]=(s+sk[i])%M
    return table

if __name__ == "__main__":
    import hashlib
    print(build([("10.0.0.%d:80" % (i + 1), i + 1) for i in range(5)], 13))
    twenty = [("10.1.%d.%d:8080" % (i // 7, i % 7 + 1), (i * 37) % 11 + 1) for i in range(20)]
    print(hashlib.sha256(",".join(build(twenty, 4093)).encode()).hexdigest())
