/**
 * A Redis URL as it may be logged: any user and password replaced by `***`.
 * Text that is not a URL is replaced whole, since it might be a secret.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username !== '' || u.password !== '') {
      u.username = '***';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '(a value that is not a URL)';
  }
}

/**
 * `text` with every credential of `url` (user, password, either URL-encoded or
 * not) replaced by `***`, for messages that may quote them (client errors).
 */
export function redactText(text: string, url: string | undefined): string {
  if (url === undefined) return text;
  let secrets: string[];
  try {
    const u = new URL(url);
    // A password of any length; a user name only when long enough not to garble the text.
    secrets = [u.password, safeDecode(u.password)];
    if (u.username.length >= 3) secrets.push(u.username, safeDecode(u.username));
  } catch {
    return text.split(url).join('***');
  }
  let out = text.split(url).join(redactUrl(url));
  for (const s of secrets) if (s !== '') out = out.split(s).join('***');
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
