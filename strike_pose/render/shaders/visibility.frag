#version 330
// The visibility buffer: which triangle covers the pixel (id + 1; 0 = background) and its distance.
in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
out vec2 visibility;
void main() {
    visibility = vec2(float(gl_PrimitiveID + 1), -v_position.z);
}
