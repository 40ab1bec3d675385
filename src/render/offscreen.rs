//! Rendering without a window: a wgpu device of its own (lavapipe on a machine without GPU),
//! the same [`Compositor`] as the screens, and a read-back of the pixels. Used by
//! `vigie still`, the benchmarks and the tests.

use eframe::wgpu;

use super::compositor::{Compositor, StreamId, TileDraw};
use crate::media::Frame;

/// Why offscreen rendering is not available.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no GPU adapter (install mesa-vulkan-drivers for the software one): {0}")]
    NoAdapter(String),
    #[error("the GPU device could not be opened: {0}")]
    Device(String),
    #[error("reading the picture back failed: {0}")]
    Readback(String),
}

/// An RGBA picture read back from the GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl RgbaImage {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 4) as usize;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Mean colour of the `w` x `h` box at (x, y).
    pub fn mean(&self, x: u32, y: u32, w: u32, h: u32) -> [f32; 3] {
        let mut acc = [0f64; 3];
        for yy in y..y + h {
            for xx in x..x + w {
                let p = self.pixel(xx, yy);
                for c in 0..3 {
                    acc[c] += p[c] as f64;
                }
            }
        }
        let n = (w * h).max(1) as f64;
        [
            (acc[0] / n) as f32,
            (acc[1] / n) as f32,
            (acc[2] / n) as f32,
        ]
    }

    /// Writes the picture as an 8-bit RGB PNG.
    pub fn write_png(&self, path: &std::path::Path) -> std::io::Result<()> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut enc = png::Encoder::new(file, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        let rgb: Vec<u8> = self
            .pixels
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        w.write_image_data(&rgb).map_err(std::io::Error::other)?;
        w.finish().map_err(std::io::Error::other)
    }
}

struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    readback: wgpu::Buffer,
    width: u32,
    height: u32,
}

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// A headless device with a compositor and a render target that is resized on demand.
pub struct Offscreen {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub compositor: Compositor,
    adapter_name: String,
    target: Option<Target>,
    /// Uploads recorded since the last draw; the draw submits them with its pass.
    encoder: Option<wgpu::CommandEncoder>,
}

impl Offscreen {
    pub fn new() -> Result<Offscreen, RenderError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        }))
        .map_err(|e| RenderError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vigie offscreen device"),
            required_limits: wgpu::Limits::default().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Device(e.to_string()))?;
        let compositor = Compositor::new(&device, FORMAT);
        Ok(Offscreen {
            device,
            queue,
            compositor,
            adapter_name: format!("{} ({:?})", info.name, info.backend),
            target: None,
            encoder: None,
        })
    }

    /// "llvmpipe (LLVM ...) (Vulkan)" and the like.
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    /// Uploads a frame for `stream`.
    pub fn upload(&mut self, stream: StreamId, frame: &Frame) {
        let device = &self.device;
        let encoder = self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigie offscreen frame"),
            })
        });
        self.compositor.upload(&self.device, encoder, stream, frame);
    }

    /// The compositor's counters (streams, texture memory).
    pub fn stats(&self) -> super::CompositorStats {
        self.compositor.stats()
    }

    /// Sets the privacy masks painted over `stream`'s picture.
    pub fn set_masks(&mut self, stream: StreamId, masks: &[super::Polygon]) {
        self.compositor.set_masks(stream, masks);
    }

    /// Draws `tiles` on black into a `width` x `height` target and submits, without reading
    /// back (what a screen does each frame).
    pub fn draw(&mut self, width: u32, height: u32, tiles: &[TileDraw]) {
        self.ensure_target(width, height);
        let mut encoder = self.encoder.take().unwrap_or_else(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("vigie offscreen frame"),
                })
        });
        self.compositor
            .prepare(&self.device, &self.queue, &encoder, 0, tiles);
        let Some(target) = &self.target else {
            return;
        };
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("vigie offscreen tiles"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &target.view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            self.compositor.paint(0, &mut pass);
        }
        self.queue.submit([encoder.finish()]);
        // Lets finished submissions hand their staging memory back (non-blocking).
        let _ = self.device.poll(wgpu::PollType::Poll);
    }

    /// Waits until the GPU has finished what was submitted.
    pub fn wait_idle(&self) {
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// Draws `tiles` and reads the picture back.
    pub fn render(
        &mut self,
        width: u32,
        height: u32,
        tiles: &[TileDraw],
    ) -> Result<RgbaImage, RenderError> {
        self.draw(width, height, tiles);
        let Some(Target {
            texture,
            readback: buffer,
            ..
        }) = &self.target
        else {
            return Err(RenderError::Readback("no target".into()));
        };
        let padded = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vigie readback"),
            });
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(height),
                },
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
        self.queue.submit([encoder.finish()]);
        let slice = buffer.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| RenderError::Readback(e.to_string()))?
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        {
            let data = slice
                .get_mapped_range()
                .map_err(|e| RenderError::Readback(format!("{e:?}")))?;
            for row in data.chunks_exact(padded as usize).take(height as usize) {
                pixels.extend_from_slice(&row[..(width * 4) as usize]);
            }
        }
        buffer.unmap();
        Ok(RgbaImage {
            width,
            height,
            pixels,
        })
    }

    fn ensure_target(&mut self, width: u32, height: u32) {
        if matches!(&self.target, Some(t) if t.width == width && t.height == height) {
            return;
        }
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("vigie offscreen target"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let padded = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigie readback buffer"),
            size: (padded * height) as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        self.target = Some(Target {
            texture,
            view,
            readback: buffer,
            width,
            height,
        });
    }
}
