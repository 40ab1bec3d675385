// Video tiles: one instanced quad per tile, YUV 4:2:0 planes sampled from texture arrays
// (one layer per stream) and converted to R'G'B' here, never on the CPU.
//
// Instance data (one per tile):
//   rect   x, y, w, h of the tile as fractions of the render target (0..1, y down)
//   uv     u0, v0, u1, v1: the part of the picture shown (crop for aspect or zoom)
//   params layer, format (0 = I420: U and V planes; 1 = NV12: interleaved UV), full range (0/1), unused
//   coeffs Kr, Kb of the matrix (BT.601 0.299/0.114, BT.709 0.2126/0.0722), brightness (1 = live,
//          < 1 dims a stale picture), unused
//   mask   first polygon and polygon count of the stream's privacy masks in the batch's mask
//          buffers (group 1), unused, unused. A pixel inside any polygon (even-odd rule, in
//          picture coordinates) is painted MASK_RGB, whatever the video: masks hide, never blur.

@group(0) @binding(0) var t_y: texture_2d_array<f32>;
@group(0) @binding(1) var t_c1: texture_2d_array<f32>;
@group(0) @binding(2) var t_c2: texture_2d_array<f32>;
@group(0) @binding(3) var s_video: sampler;

// Per polygon: first point, point count. Points: x, y as fractions of the picture.
@group(1) @binding(0) var<storage, read> mask_polys: array<vec2<u32>>;
@group(1) @binding(1) var<storage, read> mask_points: array<vec2<f32>>;

// Keep in step with compositor::MASK_RGB (56, 56, 64).
const MASK_RGB: vec3<f32> = vec3<f32>(56.0 / 255.0, 56.0 / 255.0, 64.0 / 255.0);

struct Instance {
    @location(0) rect: vec4<f32>,
    @location(1) uv: vec4<f32>,
    @location(2) params: vec4<u32>,
    @location(3) coeffs: vec4<f32>,
    @location(4) mask: vec4<u32>,
};

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
    @location(1) @interpolate(flat) params: vec4<u32>,
    @location(2) @interpolate(flat) coeffs: vec4<f32>,
    @location(3) @interpolate(flat) mask: vec4<u32>,
};

@vertex
fn vs_main(@builtin(vertex_index) vi: u32, inst: Instance) -> VsOut {
    // Two triangles: (0,0) (1,0) (0,1) / (0,1) (1,0) (1,1).
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let c = corners[vi];
    let p = inst.rect.xy + c * inst.rect.zw;
    var out: VsOut;
    out.position = vec4<f32>(p.x * 2.0 - 1.0, 1.0 - p.y * 2.0, 0.0, 1.0);
    out.uv = mix(inst.uv.xy, inst.uv.zw, c);
    out.params = inst.params;
    out.coeffs = inst.coeffs;
    out.mask = inst.mask;
    return out;
}

// Even-odd rule: does the ray from p towards +x cross the polygon's edges an odd number of times?
fn inside_polygon(p: vec2<f32>, first: u32, count: u32) -> bool {
    var inside = false;
    var j = first + count - 1u;
    for (var i = first; i < first + count; i = i + 1u) {
        let a = mask_points[i];
        let b = mask_points[j];
        if ((a.y > p.y) != (b.y > p.y)) {
            let x = (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x;
            if (p.x < x) {
                inside = !inside;
            }
        }
        j = i;
    }
    return inside;
}

fn masked(in: VsOut) -> bool {
    for (var k = in.mask.x; k < in.mask.x + in.mask.y; k = k + 1u) {
        let poly = mask_polys[k];
        if (inside_polygon(in.uv, poly.x, poly.y)) {
            return true;
        }
    }
    return false;
}

fn shade(in: VsOut) -> vec3<f32> {
    if (masked(in)) {
        return MASK_RGB;
    }
    return yuv_to_rgb(in);
}

fn yuv_to_rgb(in: VsOut) -> vec3<f32> {
    let layer = i32(in.params.x);
    let y = textureSampleLevel(t_y, s_video, in.uv, layer, 0.0).r;
    var cb: f32;
    var cr: f32;
    if (in.params.y == 1u) {
        let c = textureSampleLevel(t_c1, s_video, in.uv, layer, 0.0);
        cb = c.r;
        cr = c.g;
    } else {
        cb = textureSampleLevel(t_c1, s_video, in.uv, layer, 0.0).r;
        cr = textureSampleLevel(t_c2, s_video, in.uv, layer, 0.0).r;
    }
    var luma: f32;
    var u: f32;
    var v: f32;
    if (in.params.z == 1u) {
        luma = y;
        u = cb - 128.0 / 255.0;
        v = cr - 128.0 / 255.0;
    } else {
        luma = (y * 255.0 - 16.0) / 219.0;
        u = (cb * 255.0 - 128.0) / 224.0;
        v = (cr * 255.0 - 128.0) / 224.0;
    }
    let kr = in.coeffs.x;
    let kb = in.coeffs.y;
    let kg = 1.0 - kr - kb;
    let r = luma + 2.0 * (1.0 - kr) * v;
    let b = luma + 2.0 * (1.0 - kb) * u;
    let g = (luma - kr * r - kb * b) / kg;
    return clamp(vec3<f32>(r, g, b), vec3<f32>(0.0), vec3<f32>(1.0)) * in.coeffs.z;
}

// For targets that store the encoded values as they are (Rgba8Unorm, Bgra8Unorm).
@fragment
fn fs_gamma(in: VsOut) -> @location(0) vec4<f32> {
    return vec4<f32>(shade(in), 1.0);
}

// For sRGB targets, which encode on write: hand them linear values.
@fragment
fn fs_linear(in: VsOut) -> @location(0) vec4<f32> {
    let c = shade(in);
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return vec4<f32>(select(hi, lo, c <= vec3<f32>(0.04045)), 1.0);
}
