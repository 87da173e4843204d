"""Numba kernels of the simulation: charged-particle stepping and charge rasterisation."""

from __future__ import annotations

import math

import numpy as np

from generators.jit import njit

STOPPED, ESCAPED, REACHED = 0, 1, 2
_ME = 0.51099895


@njit
def seed_kernels(seed):
    """Seed Numba's generator (separate from NumPy's) for this thread."""
    np.random.seed(seed)


@njit
def _interp(x, xs, ys):
    n = xs.shape[0]
    if x <= xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    f = (x - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + f * (ys[hi] - ys[lo])


@njit
def _rotate(d, theta, phi):
    """Turn unit vector d by polar angle theta, azimuth phi."""
    ct, st = math.cos(theta), math.sin(theta)
    cp, sp = math.cos(phi), math.sin(phi)
    # an orthonormal pair perpendicular to d
    if abs(d[2]) < 0.9:
        ax, ay, az = 0.0, 0.0, 1.0
    else:
        ax, ay, az = 1.0, 0.0, 0.0
    ux = ay * d[2] - az * d[1]
    uy = az * d[0] - ax * d[2]
    uz = ax * d[1] - ay * d[0]
    nu = math.sqrt(ux * ux + uy * uy + uz * uz)
    ux, uy, uz = ux / nu, uy / nu, uz / nu
    vx = d[1] * uz - d[2] * uy
    vy = d[2] * ux - d[0] * uz
    vz = d[0] * uy - d[1] * ux
    nx = ct * d[0] + st * (cp * ux + sp * vx)
    ny = ct * d[1] + st * (cp * uy + sp * vy)
    nz = ct * d[2] + st * (cp * uz + sp * vz)
    n = math.sqrt(nx * nx + ny * ny + nz * nz)
    d[0], d[1], d[2] = nx / n, ny / n, nz / n


@njit
def step_track(pos, direction, kinetic, mass, charge, max_path, step_max, table_t, table_dedx, table_range,
               restricted, fluct_shape, x0_cm, world, t_stop, out_xyz, out_de, out_dedx, n_out):
    """Step one charged particle through LAr until it stops, leaves ``world`` or has gone ``max_path``.

    Continuous loss = ``restricted`` x mean dE/dx (the rest leaves as discrete delta rays), with
    Gamma(fluct_shape) fluctuations per step; Highland multiple scattering; one deposit per step at
    the step's midpoint. ``pos``/``direction`` are updated in place.

    Returns (status, kinetic energy, path travelled, n_out).
    """
    path = 0.0
    cap = out_de.shape[0]
    while True:
        rng = _interp(kinetic, table_t, table_range)
        ds = min(step_max, max(0.02, 0.2 * rng))
        if kinetic <= t_stop or rng <= 0.02:
            if n_out < cap:
                out_xyz[n_out, 0], out_xyz[n_out, 1], out_xyz[n_out, 2] = pos[0], pos[1], pos[2]
                out_de[n_out] = kinetic
                out_dedx[n_out] = kinetic / max(rng, 0.01)
                n_out += 1
            return STOPPED, 0.0, path, n_out
        last = False
        if path + ds >= max_path:
            ds = max_path - path
            last = True
        mean = _interp(kinetic, table_t, table_dedx) * ds
        de = mean * restricted
        if fluct_shape > 0:
            de = de * np.random.gamma(fluct_shape, 1.0 / fluct_shape)
        if de >= kinetic:
            de = kinetic
        # scatter with the momentum at the start of the step
        e_tot = kinetic + mass
        p = math.sqrt(max(e_tot * e_tot - mass * mass, 1e-12))
        beta = p / e_tot
        x = max(ds, 1e-6) / x0_cm
        theta0 = 13.6 / (beta * p) * abs(charge) * math.sqrt(x) * max(1.0 + 0.038 * math.log(x * charge * charge / (beta * beta)), 0.1)
        mx = pos[0] + 0.5 * ds * direction[0]
        my = pos[1] + 0.5 * ds * direction[1]
        mz = pos[2] + 0.5 * ds * direction[2]
        if n_out < cap and de > 0:
            out_xyz[n_out, 0], out_xyz[n_out, 1], out_xyz[n_out, 2] = mx, my, mz
            out_de[n_out] = de
            out_dedx[n_out] = mean / ds
            n_out += 1
        pos[0] += ds * direction[0]
        pos[1] += ds * direction[1]
        pos[2] += ds * direction[2]
        path += ds
        kinetic -= de
        tx = np.random.normal(0.0, theta0)
        ty = np.random.normal(0.0, theta0)
        _rotate(direction, math.sqrt(tx * tx + ty * ty), math.atan2(ty, tx))
        if (pos[0] < world[0] or pos[0] > world[1] or pos[1] < world[2] or pos[1] > world[3]
                or pos[2] < world[4] or pos[2] > world[5]):
            return ESCAPED, kinetic, path, n_out
        if last:
            return REACHED, kinetic, path, n_out
        if n_out >= cap:
            return REACHED, kinetic, path, n_out


@njit
def rasterise(wire, tick, charge, sig_w, sig_t, row, n_wires_row, row_base, n_ticks, out):
    """Spread point charges over wires and ticks with Gaussian diffusion/response widths.

    Args:
        wire, tick: continuous coordinates of each deposit (wire i spans [i, i+1); tick likewise).
        charge: electrons (or ADC) of each deposit.
        sig_w, sig_t: Gaussian widths in wires and ticks.
        row: the (TPC, plane) wire table of each deposit: output row of wire w is row_base[row] + w
            for 0 <= w < n_wires_row[row].
        out: array (rows, n_ticks) accumulated in place.
    """
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    ft = np.empty(64)
    for k in range(wire.shape[0]):
        sw = max(sig_w[k], 1e-3)
        st = max(sig_t[k], 1e-3)
        w_lo = int(math.floor(wire[k] - 3 * sw))
        w_hi = int(math.floor(wire[k] + 3 * sw))
        t_lo = max(int(math.floor(tick[k] - 3 * st)), 0)
        t_hi = min(int(math.floor(tick[k] + 3 * st)), n_ticks - 1)
        if t_hi - t_lo + 1 > ft.shape[0]:
            ft = np.empty(2 * (t_hi - t_lo + 1))
        # the tick profile is the same on every wire: compute it once per deposit
        prev = math.erf((t_lo - tick[k]) * inv_sqrt2 / st)
        for t in range(t_lo, t_hi + 1):
            cur = math.erf((t + 1 - tick[k]) * inv_sqrt2 / st)
            ft[t - t_lo] = 0.5 * (cur - prev)
            prev = cur
        nw = n_wires_row[row[k]]
        base = row_base[row[k]]
        for w in range(max(w_lo, 0), min(w_hi, nw - 1) + 1):
            fw = 0.5 * (math.erf((w + 1 - wire[k]) * inv_sqrt2 / sw) - math.erf((w - wire[k]) * inv_sqrt2 / sw))
            if fw < 1e-4:
                continue
            q = charge[k] * fw
            for t in range(t_lo, t_hi + 1):
                out[base + w, t] += q * ft[t - t_lo]
    return out


@njit
def sum_rows(rows, target, scale, out):
    """out[target[i]] += scale[i] * rows[i] for every row i (rows of one channel summed)."""
    for i in range(rows.shape[0]):
        t = target[i]
        g = scale[i]
        for j in range(rows.shape[1]):
            out[t, j] += g * rows[i, j]
    return out
