// Video tiles: one instanced quad per tile, YUV 4:2:0 planes sampled from texture arrays
// (one layer per stream) and converted to R'G'B' here, never on the CPU.
//
// Instance data (one per tile):
//   rect   x, y, w, h of the tile as fractions of the render target (0..1, y down)
//   uv     u0, v0, u1, v1: the part of the picture shown (crop for aspect or zoom)
//   params layer, format (0 = I420: U and V planes; 1 = NV12: interleaved UV), full range (0/1), unused
//   coeffs Kr, Kb of the matrix (BT.601 0.299/0.114, BT.709 0.2126/0.0722), brightness (1 = live,
//          < 1 dims a stale picture), unused

@group(0) @binding(0) var t_y: texture_2d_array<f32>;
@group(0) @binding(1) var t_c1: texture_2d_array<f32>;
@group(0) @binding(2) var t_c2: texture_2d_array<f32>;
@group(0) @binding(3) var s_video: sampler;

struct Instance {
    @location(0) rect: vec4<f32>,
    @location(1) uv: vec4<f32>,
    @location(2) params: vec4<u32>,
    @location(3) coeffs: vec4<f32>,
};

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
    @location(1) @interpolate(flat) params: vec4<u32>,
    @location(2) @interpolate(flat) coeffs: vec4<f32>,
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
    return out;
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
    return vec4<f32>(yuv_to_rgb(in), 1.0);
}

// For sRGB targets, which encode on write: hand them linear values.
@fragment
fn fs_linear(in: VsOut) -> @location(0) vec4<f32> {
    let c = yuv_to_rgb(in);
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return vec4<f32>(select(hi, lo, c <= vec3<f32>(0.04045)), 1.0);
}
