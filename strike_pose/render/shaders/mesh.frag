#version 330
// colour = albedo(uv) * (ambient + diffuse * max(0, n.l)) + specular * max(0, n.h)^shininess
// The torch twin (strike_pose/render/diff.py) implements the same equation.
uniform sampler2D albedo;
uniform vec3 light_direction;  // unit, towards the light, camera space
uniform float ambient;
uniform float diffuse;
uniform float specular;
uniform float shininess;
in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
out vec4 frag_color;

void main() {
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;  // two-sided: meshes with flipped faces still light sensibly
    vec3 base = texture(albedo, v_uv).rgb;  // a plain object has a plain texture (Scene.as_shown)
    vec3 color = base * (ambient + diffuse * max(dot(n, light_direction), 0.0));
    if (specular > 0.0) {
        vec3 h = normalize(light_direction + normalize(-v_position));
        color += specular * pow(max(dot(n, h), 0.0), shininess);
    }
    frag_color = vec4(clamp(color, 0.0, 1.0), 1.0);
}
