#version 330
// Object space -> camera space (model matrix from the pose) -> clip space.
uniform mat4 model;       // R and t of the pose
uniform mat4 projection;  // perspective, vertical field of view
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
out vec3 v_position;      // camera space
out vec3 v_normal;        // camera space, not normalised (interpolated, then normalised per pixel)
out vec2 v_uv;

void main() {
    vec4 p = model * vec4(in_position, 1.0);
    v_position = p.xyz;
    v_normal = mat3(model) * in_normal;
    v_uv = in_uv;
    gl_Position = projection * p;
}
