// PNG copies of the bench's SVG charts (svg.ts), for viewers that do not show
// SVG. Rendered with resvg (@resvg/resvg-js, a devDependency with prebuilt
// binaries): no browser, no network.
//
// Fonts: resvg draws no text without a font. The charts ask for
// `system-ui, sans-serif`; resvg does not know `system-ui` and maps
// `sans-serif` to Arial, which Linux machines usually lack. When nothing
// matches it falls back to the default family, and left alone that is the
// first system font found (on the reference machine "DejaVu Math TeX Gyre", a
// serif with no bold). So the default is DejaVu Sans, installed with most
// Linux distributions; where that is missing too, resvg still picks a system font.
import { createRequire } from 'node:module';
import type { Resvg as ResvgClass } from '@resvg/resvg-js';

const FONT = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' };
/** Twice the SVG's size, so text stays sharp on high-density screens. */
const ZOOM = 2;

/** `latest-sweep-delay.svg` → `latest-sweep-delay.png`. */
export const pngName = (svgName: string) => svgName.replace(/\.svg$/, '') + '.png';

/**
 * The chart as PNG bytes. Loaded lazily: on a platform without a resvg binary
 * only the PNGs are missing (the caller reports the error), not the bench.
 */
export function svgToPng(svg: string): Buffer {
  const { Resvg } = createRequire(import.meta.url)('@resvg/resvg-js') as { Resvg: typeof ResvgClass };
  const resvg = new Resvg(svg, { font: FONT, fitTo: { mode: 'zoom', value: ZOOM }, background: 'white', logLevel: 'error' });
  return resvg.render().asPng();
}
