#!/usr/bin/python3
"""The Winograd F(5x5, 3x3) matrices of kernels/conv2d_winograd_xform.h and
kernels/conv2d_winograd.c (g7_column), derived by Toom-Cook and checked in exact arithmetic.

Points 0, 1, -1, 2, -2, -1/2 and infinity. For finite points a_j:
  A^T[i][j] = a_j^i,   G[j][k] = a_j^k / prod_{l != j} (a_j - a_l),
  B^T[j]    = coefficients of prod_{l != j} (x - a_l),
and the infinity column/row picks the last coefficient. 1-D: y = A^T [(G g) . (B^T d)] is the
correlation y_i = sum_k g_k d_{i+k}; 2-D nests it. The engine doubles every row of B^T but the
sixth (so the rows share their parts, see BT7) and halves the same rows of G.

Run: /usr/bin/python3 tests/data/winograd_f5.py  (prints the matrices; exits 1 if a check fails)
"""
from fractions import Fraction as Fr
import random
import sys

M, R = 5, 3
N = M + R - 1
POINTS = [Fr(0), Fr(1), Fr(-1), Fr(2), Fr(-2), Fr(-1, 2)]
SCALE = [2, 2, 2, 2, 2, 1, 2]  # B^T row scale (G rows scaled by the inverse)


def polymul(a, b):
    out = [Fr(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def matrices():
    pts = POINTS
    at = [[pts[j] ** i for j in range(N - 1)] + [Fr(int(i == M - 1))] for i in range(M)]
    g = []
    for j in range(N - 1):
        f = Fr(1)
        for l in range(N - 1):
            if l != j:
                f *= pts[j] - pts[l]
        g.append([pts[j] ** k / f for k in range(R)])
    g.append([Fr(int(k == R - 1)) for k in range(R)])
    bt = []
    for j in range(N - 1):
        p = [Fr(1)]
        for l in range(N - 1):
            if l != j:
                p = polymul(p, [-pts[l], Fr(1)])
        bt.append(p + [Fr(0)])
    p = [Fr(1)]
    for l in range(N - 1):
        p = polymul(p, [-pts[l], Fr(1)])
    bt.append(p)
    bt = [[SCALE[j] * x for x in bt[j]] for j in range(N)]
    g = [[x / SCALE[j] for x in g[j]] for j in range(N)]
    return at, g, bt


def bt7_factored(d):
    """The engine's BT7 (conv2d_winograd_xform.h), in exact arithmetic."""
    r5 = 4 * d[1] + (d[5] - 5 * d[3])
    f42, f53, f31 = d[4] - 4 * d[2], d[5] - 4 * d[3], d[3] - 4 * d[1]
    s1, t1 = f42 + 2 * f53, f31 + 2 * f42
    e42 = d[4] - d[2]
    s2, t2 = e42 + 2 * (d[5] - d[3]), (d[3] - d[1]) + 2 * e42
    return [(4 * d[0] + (d[4] - 5 * d[2])) + 2 * r5, s1 + t1, s1 - t1, s2 + 2 * t2, s2 - 2 * t2,
            r5, r5 + 2 * (4 * d[2] + (d[6] - 5 * d[4]))]


def at5(m):
    """The engine's AT5."""
    s12, d12, s34, d34 = m[1] + m[2], m[1] - m[2], m[3] + m[4], m[3] - m[4]
    h = Fr(1, 2)
    return [m[0] + s12 + s34 + m[5], d12 + 2 * d34 - h * m[5], s12 + 4 * s34 + h**2 * m[5],
            d12 + 8 * d34 - h**3 * m[5], s12 + 16 * s34 + h**4 * m[5] + m[6]]


def g7(k):
    """The engine's g7_column."""
    k0, k1, k2 = k
    return [k0 / 4, -(k0 + k1 + k2) / 18, (k0 - k1 + k2) / 6, (k0 + 2 * k1 + 4 * k2) / 120,
            (-k0 + 2 * k1 - 4 * k2) / 72, (-32 * k0 + 16 * k1 - 8 * k2) / 45, k2 / 2]


def main():
    at, g, bt = matrices()
    rnd = random.Random(5)
    ok = True
    for _ in range(50):
        d = [Fr(rnd.randint(-99, 99), rnd.randint(1, 9)) for _ in range(N)]
        k = [Fr(rnd.randint(-99, 99), rnd.randint(1, 9)) for _ in range(R)]
        gk = [sum(g[j][i] * k[i] for i in range(R)) for j in range(N)]
        bd = [sum(bt[j][i] * d[i] for i in range(N)) for j in range(N)]
        y = [sum(at[i][j] * gk[j] * bd[j] for j in range(N)) for i in range(M)]
        want = [sum(k[t] * d[i + t] for t in range(R)) for i in range(M)]
        ok &= y == want
        ok &= bt7_factored(d) == bd and g7(k) == gk
        ok &= at5(bd) == [sum(at[i][j] * bd[j] for j in range(N)) for i in range(M)]
    for name, mat in (("A^T", at), ("G (rows scaled)", g), ("B^T (rows scaled)", bt)):
        print(name)
        for row in mat:
            print("  " + " ".join(f"{str(x):>7}" for x in row))
    print("exact checks:", "pass" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
