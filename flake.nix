{
  description = "fleet-provision: provision Shelly fleets and factory-line boards";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_20
            pkgs.python3
            pkgs.esptool
            pkgs.chromium
            pkgs.socat        # pseudo-terminal pairs for the serial emulators
            pkgs.avrdude      # validates the AVR emulator
            pkgs.stm32flash   # validates the STM32 emulator
          ];
          shellHook = ''
            export PLAYWRIGHT_CHROMIUM_PATH=${pkgs.chromium}/bin/chromium
          '';
        };
      });
    };
}
