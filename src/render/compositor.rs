//! The tile compositor: decoded planes in reused texture arrays, all tiles of a target drawn
//! with one instanced draw per picture size.
//!
//! Resources are built once: the pipeline and sampler at creation, one texture-array set per
//! picture size and format ("class") when the first stream of that size appears (grown by
//! doubling, which copies layers on the GPU), one instance buffer per batch (screen). Per
//! frame only plane data and instance data are written; no GPU object is created.

use std::collections::HashMap;
use std::ops::Range;

use eframe::wgpu;

use crate::media::{Frame, PixelFormat, Range as ColourRange};

/// Identifies a stream's texture layer; the caller derives it from the stream's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// One tile to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TileDraw {
    pub stream: StreamId,
    /// x, y, w, h as fractions of the target (y down).
    pub rect: [f32; 4],
    /// u0, v0, u1, v1: the part of the picture shown.
    pub uv: [f32; 4],
    /// 1.0 for a live picture; less dims it (stale, lost).
    pub brightness: f32,
}

pub use crate::media::{Polygon, polygon_contains};

/// The colour of masked pixels (8-bit R'G'B'), the same in every view and still.
pub const MASK_RGB: [u8; 3] = [56, 56, 64];

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Instance {
    rect: [f32; 4],
    uv: [f32; 4],
    params: [u32; 4],
    coeffs: [f32; 4],
    /// First polygon in the batch's mask buffers, polygon count, unused, unused.
    mask: [u32; 4],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ClassKey {
    width: u32,
    height: u32,
    nv12: bool,
}

/// Texture arrays for every stream of one size and format.
struct Class {
    key: ClassKey,
    layers: u32,
    free: Vec<u32>,
    y: wgpu::Texture,
    c1: wgpu::Texture,
    c2: wgpu::Texture,
    bind_group: wgpu::BindGroup,
}

struct StreamTex {
    class: ClassKey,
    layer: u32,
    nv12: bool,
    full_range: bool,
    kr: f32,
    kb: f32,
    last_used: u64,
}

struct Batch {
    buffer: wgpu::Buffer,
    capacity: usize,
    draws: Vec<(ClassKey, Range<u32>)>,
    masks: MaskBuffers,
}

/// A batch's mask polygons for the fragment shader: (first point, point count) per polygon,
/// and the points.
struct MaskBuffers {
    polys: wgpu::Buffer,
    points: wgpu::Buffer,
    capacity: usize,
    bind_group: wgpu::BindGroup,
}

/// Counters for overlays and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompositorStats {
    pub streams: usize,
    pub classes: usize,
    pub draw_calls_last_batch: usize,
    pub texture_bytes: u64,
}

pub struct Compositor {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    mask_layout: wgpu::BindGroupLayout,
    masks: HashMap<StreamId, Vec<Polygon>>,
    sampler: wgpu::Sampler,
    dummy: wgpu::Texture,
    classes: HashMap<ClassKey, Class>,
    streams: HashMap<StreamId, StreamTex>,
    batches: HashMap<u64, Batch>,
    tick: u64,
    max_layers: u32,
    scratch: Vec<Instance>,
    last_draw_calls: usize,
    belt: wgpu::util::StagingBelt,
}

const SHADER: &str = include_str!("../../shaders/tiles.wgsl");
/// Alignment of staging allocations (buffer-to-texture copies want 256-byte rows).
const ROW_ALIGNMENT: wgpu::BufferSize =
    match wgpu::BufferSize::new(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64) {
        Some(n) => n,
        None => unreachable!(),
    };
/// Size of the staging chunks uploads are written into (a few 1080p frames).
const STAGING_CHUNK: u64 = 8 << 20;
/// Streams not drawn for this many prepares give their layer back.
const EVICT_AFTER: u64 = 600;

impl Compositor {
    /// Builds the pipeline for targets of `format`.
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Compositor {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("vigie tiles shader"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let tex_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2Array,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vigie tiles bind group layout"),
            entries: &[
                tex_entry(0),
                tex_entry(1),
                tex_entry(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let storage_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let mask_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vigie mask bind group layout"),
            entries: &[storage_entry(0), storage_entry(1)],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vigie tiles pipeline layout"),
            bind_group_layouts: &[Some(&layout), Some(&mask_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("vigie tiles pipeline"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<Instance>() as u64,
                    step_mode: wgpu::VertexStepMode::Instance,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x4, 1 => Float32x4, 2 => Uint32x4, 3 => Float32x4, 4 => Uint32x4],
                })],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some(if format.is_srgb() { "fs_linear" } else { "fs_gamma" }),
                targets: &[Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
                compilation_options: wgpu::PipelineCompilationOptions::default(),
            }),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("vigie video sampler"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let dummy = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("vigie unused chroma plane"),
            size: wgpu::Extent3d {
                width: 1,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let max_layers = device.limits().max_texture_array_layers;
        Compositor {
            pipeline,
            layout,
            mask_layout,
            masks: HashMap::new(),
            sampler,
            dummy,
            classes: HashMap::new(),
            streams: HashMap::new(),
            batches: HashMap::new(),
            tick: 0,
            max_layers,
            scratch: Vec::new(),
            last_draw_calls: 0,
            belt: wgpu::util::StagingBelt::new(device.clone(), STAGING_CHUNK),
        }
    }

    /// Sets the privacy masks painted over `stream`'s picture wherever it is drawn (none:
    /// an empty slice). Points outside 0..1 are clamped; polygons of fewer than 3 points are
    /// ignored.
    pub fn set_masks(&mut self, stream: StreamId, masks: &[Polygon]) {
        let clean: Vec<Polygon> = masks
            .iter()
            .filter(|p| p.len() >= 3)
            .map(|p| {
                p.iter()
                    .map(|[x, y]| [x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)])
                    .collect()
            })
            .collect();
        if clean.is_empty() {
            self.masks.remove(&stream);
        } else {
            self.masks.insert(stream, clean);
        }
    }

    /// True when `stream` has a picture on the GPU.
    pub fn has(&self, stream: StreamId) -> bool {
        self.streams.contains_key(&stream)
    }

    /// Records the copy of `frame` into `stream`'s layer (allocating one on the stream's first
    /// frame or when its size changes) into `encoder`. The planes are copied once, into
    /// reused staging memory; [`Compositor::prepare`] closes the staging memory for the
    /// submission of `encoder`.
    pub fn upload(
        &mut self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        stream: StreamId,
        frame: &Frame,
    ) {
        if frame.width == 0 || frame.height == 0 {
            return;
        }
        let key = ClassKey {
            width: frame.width,
            height: frame.height,
            nv12: frame.format == PixelFormat::Nv12,
        };
        let layer = match self.streams.get(&stream) {
            Some(s) if s.class == key => s.layer,
            _ => {
                self.release(stream);
                let Some(layer) = self.allocate(device, encoder, key) else {
                    return;
                };
                layer
            }
        };
        let (kr, kb) = frame.colorimetry.matrix.coefficients();
        self.streams.insert(
            stream,
            StreamTex {
                class: key,
                layer,
                nv12: key.nv12,
                full_range: frame.colorimetry.range == ColourRange::Full,
                kr,
                kb,
                last_used: self.tick,
            },
        );
        let Some(class) = self.classes.get(&key) else {
            return;
        };
        let belt = &mut self.belt;
        let (cw, ch) = frame.chroma_size();
        let mut copy = |tex: &wgpu::Texture, plane: usize, w: u32, h: u32, bpp: u32| {
            let stride = frame.planes.stride(plane);
            let data = frame.planes.plane(plane);
            let row = (w * bpp) as usize;
            if stride < row || data.len() < stride * (h as usize - 1) + row {
                return; // a malformed buffer: keep the previous picture
            }
            let padded = (row as u32).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
            let Some(size) = wgpu::BufferSize::new(padded as u64 * h as u64) else {
                return;
            };
            let slice = belt.allocate(size, ROW_ALIGNMENT);
            {
                let Ok(mut view) = slice.get_mapped_range_mut() else {
                    return;
                };
                if stride == padded as usize {
                    let n = ((padded * h) as usize).min(data.len());
                    view.slice(..n).copy_from_slice(&data[..n]);
                } else {
                    for (r, src) in data.chunks(stride).take(h as usize).enumerate() {
                        let at = r * padded as usize;
                        view.slice(at..at + row).copy_from_slice(&src[..row]);
                    }
                }
            }
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer: slice.buffer(),
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: slice.offset(),
                        bytes_per_row: Some(padded),
                        rows_per_image: Some(h),
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture: tex,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: 0,
                        z: layer,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
        };
        copy(&class.y, 0, frame.width, frame.height, 1);
        if key.nv12 {
            copy(&class.c1, 1, cw, ch, 2);
        } else {
            copy(&class.c1, 1, cw, ch, 1);
            copy(&class.c2, 2, cw, ch, 1);
        }
    }

    fn release(&mut self, stream: StreamId) {
        if let Some(old) = self.streams.remove(&stream)
            && let Some(c) = self.classes.get_mut(&old.class)
        {
            c.free.push(old.layer);
        }
    }

    fn allocate(
        &mut self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        key: ClassKey,
    ) -> Option<u32> {
        if !self.classes.contains_key(&key) {
            let class = self.create_class(device, key, 4);
            self.classes.insert(key, class);
        }
        let class = self.classes.get_mut(&key)?;
        if let Some(layer) = class.free.pop() {
            return Some(layer);
        }
        // Full: double the arrays and copy the layers in use on the GPU, in the same encoder
        // as the uploads so that those recorded before land in the copy.
        let old_layers = class.layers;
        let new_layers = (old_layers * 2).min(self.max_layers);
        if new_layers <= old_layers {
            tracing::warn!(
                width = key.width,
                height = key.height,
                "compositor: no texture layer left for another stream"
            );
            return None;
        }
        let mut bigger = self.create_class(device, key, new_layers);
        let class = self.classes.get(&key)?;
        for (from, to) in [
            (&class.y, &bigger.y),
            (&class.c1, &bigger.c1),
            (&class.c2, &bigger.c2),
        ] {
            if from.depth_or_array_layers() == old_layers {
                encoder.copy_texture_to_texture(
                    from.as_image_copy(),
                    to.as_image_copy(),
                    wgpu::Extent3d {
                        width: from.width(),
                        height: from.height(),
                        depth_or_array_layers: old_layers,
                    },
                );
            }
        }
        bigger.free = (old_layers + 1..new_layers).rev().collect();
        self.classes.insert(key, bigger);
        Some(old_layers)
    }

    fn create_class(&self, device: &wgpu::Device, key: ClassKey, layers: u32) -> Class {
        let make = |label: &str, w: u32, h: u32, format: wgpu::TextureFormat| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: layers,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::COPY_DST
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        };
        let (cw, ch) = (key.width.div_ceil(2), key.height.div_ceil(2));
        let y = make(
            "vigie luma planes",
            key.width,
            key.height,
            wgpu::TextureFormat::R8Unorm,
        );
        let (c1, c2) = if key.nv12 {
            (
                make("vigie UV planes", cw, ch, wgpu::TextureFormat::Rg8Unorm),
                self.dummy.clone(),
            )
        } else {
            (
                make("vigie U planes", cw, ch, wgpu::TextureFormat::R8Unorm),
                make("vigie V planes", cw, ch, wgpu::TextureFormat::R8Unorm),
            )
        };
        let view = |t: &wgpu::Texture| {
            t.create_view(&wgpu::TextureViewDescriptor {
                label: Some("vigie plane array view"),
                dimension: Some(wgpu::TextureViewDimension::D2Array),
                ..Default::default()
            })
        };
        let (vy, v1, v2) = (view(&y), view(&c1), view(&c2));
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("vigie tiles bind group"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&vy),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&v1),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&v2),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        });
        Class {
            key,
            layers,
            free: (0..layers).rev().collect(),
            y,
            c1,
            c2,
            bind_group,
        }
    }

    /// Lays out `tiles` for `batch` (one per screen or offscreen target), after the uploads
    /// of this frame were recorded into `encoder`. Tiles whose stream has no picture yet are
    /// skipped (the caller draws a placeholder there).
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &wgpu::CommandEncoder,
        batch: u64,
        tiles: &[TileDraw],
    ) {
        // The uploads recorded into `encoder` are complete: their staging memory is handed
        // to the GPU with it, and comes back for reuse once that submission is done.
        self.belt.finish_and_recall_on_submit(encoder);
        self.tick += 1;
        let tick = self.tick;
        // Group by class so that each class is one draw.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut keyed: Vec<(ClassKey, Instance)> = Vec::with_capacity(tiles.len());
        // Each stream's polygons once per batch, however many tiles show it.
        let mut polys: Vec<[u32; 2]> = Vec::new();
        let mut points: Vec<[f32; 2]> = Vec::new();
        let mut placed: HashMap<StreamId, [u32; 2]> = HashMap::new();
        for t in tiles {
            let Some(s) = self.streams.get_mut(&t.stream) else {
                continue;
            };
            s.last_used = tick;
            let mask = match self.masks.get(&t.stream) {
                None => [0, 0],
                Some(list) => *placed.entry(t.stream).or_insert_with(|| {
                    let first = polys.len() as u32;
                    for p in list {
                        polys.push([points.len() as u32, p.len() as u32]);
                        points.extend_from_slice(p);
                    }
                    [first, list.len() as u32]
                }),
            };
            keyed.push((
                s.class,
                Instance {
                    rect: t.rect,
                    uv: t.uv,
                    params: [s.layer, s.nv12 as u32, s.full_range as u32, 0],
                    coeffs: [s.kr, s.kb, t.brightness, 0.0],
                    mask: [mask[0], mask[1], 0, 0],
                },
            ));
        }
        keyed.sort_by_key(|(k, _)| *k);
        let mut draws: Vec<(ClassKey, Range<u32>)> = Vec::new();
        for (i, (k, inst)) in keyed.iter().enumerate() {
            scratch.push(*inst);
            match draws.last_mut() {
                Some((last, r)) if last == k => r.end = i as u32 + 1,
                _ => draws.push((*k, i as u32..i as u32 + 1)),
            }
        }
        let needed = scratch.len().max(1);
        let mask_layout = &self.mask_layout;
        let entry = self.batches.entry(batch).or_insert_with(|| Batch {
            buffer: instance_buffer(device, 64),
            capacity: 64,
            draws: Vec::new(),
            masks: mask_buffers(device, mask_layout, 64),
        });
        let mask_need = polys.len().max(points.len());
        if entry.masks.capacity < mask_need {
            entry.masks = mask_buffers(device, mask_layout, mask_need.next_power_of_two());
        }
        if !polys.is_empty() {
            queue.write_buffer(&entry.masks.polys, 0, bytemuck::cast_slice(&polys));
            queue.write_buffer(&entry.masks.points, 0, bytemuck::cast_slice(&points));
        }
        if entry.capacity < needed {
            let capacity = needed.next_power_of_two();
            entry.buffer = instance_buffer(device, capacity);
            entry.capacity = capacity;
        }
        if !scratch.is_empty() {
            queue.write_buffer(&entry.buffer, 0, bytemuck::cast_slice(&scratch));
        }
        self.last_draw_calls = draws.len();
        entry.draws = draws;
        self.scratch = scratch;

        // Give back the layers of streams nobody drew for a while.
        let stale: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| tick.saturating_sub(s.last_used) > EVICT_AFTER)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.release(id);
        }
    }

    /// Records the draws prepared for `batch` into `pass` (whose viewport is the target).
    pub fn paint(&self, batch: u64, pass: &mut wgpu::RenderPass<'_>) {
        let Some(b) = self.batches.get(&batch) else {
            return;
        };
        if b.draws.is_empty() {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_vertex_buffer(0, b.buffer.slice(..));
        pass.set_bind_group(1, &b.masks.bind_group, &[]);
        for (key, range) in &b.draws {
            let Some(class) = self.classes.get(key) else {
                continue;
            };
            pass.set_bind_group(0, &class.bind_group, &[]);
            pass.draw(0..6, range.clone());
        }
    }

    pub fn stats(&self) -> CompositorStats {
        let texture_bytes = self
            .classes
            .values()
            .map(|c| {
                let (w, h) = (c.key.width as u64, c.key.height as u64);
                c.layers as u64 * (w * h + 2 * w.div_ceil(2) * h.div_ceil(2))
            })
            .sum();
        CompositorStats {
            streams: self.streams.len(),
            classes: self.classes.len(),
            draw_calls_last_batch: self.last_draw_calls,
            texture_bytes,
        }
    }
}

/// Mask buffers for `capacity` polygons and as many points.
fn mask_buffers(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    capacity: usize,
) -> MaskBuffers {
    let make = |label| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (capacity * 8) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let (polys, points) = (make("vigie mask polygons"), make("vigie mask points"));
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("vigie mask bind group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: polys.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: points.as_entire_binding(),
            },
        ],
    });
    MaskBuffers {
        polys,
        points,
        capacity,
        bind_group,
    }
}

fn instance_buffer(device: &wgpu::Device, capacity: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("vigie tile instances"),
        size: (capacity * std::mem::size_of::<Instance>()) as u64,
        usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The `uv` crop and `rect` that fit a `pw` x `ph` picture in a tile of `tw` x `th` pixels
/// without distortion (letterbox), the tile given as fractions `tile` of the target.
pub fn fit_rect(tile: [f32; 4], target_px: [f32; 2], picture: [u32; 2]) -> [f32; 4] {
    let (tw, th) = (tile[2] * target_px[0], tile[3] * target_px[1]);
    let (pw, ph) = (picture[0].max(1) as f32, picture[1].max(1) as f32);
    let scale = (tw / pw).min(th / ph);
    let (w, h) = (pw * scale / target_px[0], ph * scale / target_px[1]);
    [
        tile[0] + (tile[2] - w) / 2.0,
        tile[1] + (tile[3] - h) / 2.0,
        w,
        h,
    ]
}
