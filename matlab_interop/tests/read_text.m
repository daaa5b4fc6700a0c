function txt = read_text(f)
fid = fopen(f, 'r');
txt = fread(fid, Inf, '*char').';
fclose(fid);
end
