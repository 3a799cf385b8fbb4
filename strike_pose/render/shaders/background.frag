#version 330
// The background was cover-cropped to the output size on the CPU: copy its texels one to one
// (row 0 of the image is the top of the picture).
uniform sampler2D background;
uniform ivec2 origin;  // the bottom-left pixel of this image's tile in the framebuffer
out vec4 frag_color;
void main() {
    ivec2 size = textureSize(background, 0);
    ivec2 p = ivec2(gl_FragCoord.xy) - origin;
    frag_color = vec4(texelFetch(background, ivec2(p.x, size.y - 1 - p.y), 0).rgb, 1.0);
}
